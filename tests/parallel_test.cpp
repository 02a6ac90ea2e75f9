// The batch jobs' shared mechanics in core: parallel_for (items, errors, order, progress, per-worker
// state) and the atomic file writer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/runtime.h"
#include "test_util.h"
#include "file_util.h"

namespace sola {
namespace {

namespace fs = std::filesystem;


std::vector<std::string> folder_listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

ParallelOptions with_threads(int threads) {
  ParallelOptions o;
  o.threads = threads;
  return o;
}

TEST(ParallelFor, DefaultThreadsAreTheCoresThisProcessMayUse) {
  EXPECT_EQ(default_threads(), available_cores());
  EXPECT_EQ(worker_count(0, 1000), static_cast<size_t>(available_cores()));
  EXPECT_EQ(worker_count(3, 1000), 3u);
  EXPECT_EQ(worker_count(8, 5), 5u) << "never more workers than items";
  EXPECT_EQ(worker_count(8, 0), 1u);
  EXPECT_EQ(worker_count(-2, 1000), static_cast<size_t>(available_cores()));
}

TEST(ParallelFor, CallsEveryItemOnceWithWorkersInRange) {
  for (const int threads : {1, 2, 4, 7}) {
    const size_t n = 1000;
    std::vector<std::atomic<int>> calls(n);
    std::mutex mutex;
    std::set<size_t> workers;
    std::set<std::thread::id> thread_ids;
    parallel_for(n, [&](size_t i, size_t worker) {
      ++calls[i];
      std::lock_guard<std::mutex> lock(mutex);
      workers.insert(worker);
      thread_ids.insert(std::this_thread::get_id());
    }, with_threads(threads));
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(calls[i].load(), 1) << "item " << i << ", " << threads << " threads";
    ASSERT_FALSE(workers.empty());
    EXPECT_LT(*workers.rbegin(), static_cast<size_t>(threads)) << "worker index out of range";
    EXPECT_LE(thread_ids.size(), static_cast<size_t>(threads));
    if (threads == 1) {
      EXPECT_EQ(*thread_ids.begin(), std::this_thread::get_id()) << "one thread: the caller's";
    }
  }
  bool called = false;
  parallel_for(0, [&](size_t, size_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ParallelFor, OneThreadAndManyGiveIdenticalResults) {
  const size_t n = 3000;
  auto run = [&](int threads) {
    std::vector<uint64_t> out(n);
    parallel_for(n, [&](size_t i, size_t) {
      uint64_t x = i * 0x9E3779B97F4A7C15ull;  // some work whose result depends on the item only
      for (int k = 0; k < 50; ++k) x = (x ^ (x >> 29)) * 0xBF58476D1CE4E5B9ull;
      out[i] = x;
    }, with_threads(threads));
    return out;
  };
  const std::vector<uint64_t> one = run(1);
  EXPECT_EQ(run(2), one);
  EXPECT_EQ(run(5), one);
  EXPECT_EQ(run(0), one);
}

TEST(ParallelFor, AnExceptionReachesTheCallerNamingTheItem) {
  for (const int threads : {1, 3}) {
    ParallelOptions o = with_threads(threads);
    o.item_name = [](size_t i) { return "frame_" + std::to_string(i) + ".png"; };
    std::atomic<size_t> started{0};
    const std::string msg = test::error_message<Error>([&] {
      parallel_for(200, [&](size_t i, size_t) {
        ++started;
        std::this_thread::sleep_for(std::chrono::microseconds(300));  // the failure is seen long before the end
        if (i == 37) throw std::runtime_error("decoder gave up");
      }, o);
    });
    EXPECT_EQ(msg, "frame_37.png: decoder gave up") << threads << " threads";
    if (threads == 1) {
      EXPECT_EQ(started.load(), 38u) << "no item is started after the failure";
    }
    EXPECT_LT(started.load(), 200u) << "no item is started after the failure (" << threads << " threads)";
  }
  // Without a name: the item's index.
  EXPECT_EQ(test::error_message<Error>([] {
              parallel_for(5, [](size_t i, size_t) {
                if (i == 3) throw std::out_of_range("bad index");
              }, with_threads(2));
            }),
            "item 3: bad index");
}

TEST(ParallelFor, ASolaErrorKeepsItsTypeAndMessageAndTheLowestFailedItemWins) {
  // Every item fails: whatever the scheduling, the error of item 0 is the one thrown.
  for (const int threads : {1, 4}) {
    try {
      parallel_for(50, [](size_t i, size_t) { throw IoError("in/" + std::to_string(i) + ".jpg", "truncated"); },
                   with_threads(threads));
      ADD_FAILURE() << "no exception";
    } catch (const IoError& e) {
      EXPECT_EQ(e.path(), "in/0.jpg");
      EXPECT_STREQ(e.what(), "in/0.jpg: truncated");
    }
  }
  EXPECT_THROW(parallel_for(3, [](size_t, size_t) { throw ConfigError("--size: must be positive"); }), ConfigError);
}

TEST(ParallelFor, ProgressIsCalledOncePerItemInOrderOfCount) {
  for (const int threads : {1, 4}) {
    std::vector<size_t> seen;
    ParallelOptions o = with_threads(threads);
    o.progress = [&](size_t done, size_t total) {  // serialized: no lock needed
      EXPECT_EQ(total, 300u);
      seen.push_back(done);
    };
    parallel_for(300, [](size_t, size_t) {}, o);
    ASSERT_EQ(seen.size(), 300u);
    for (size_t k = 0; k < seen.size(); ++k) ASSERT_EQ(seen[k], k + 1);
  }
}

TEST(ParallelFor, PerWorkerStateIsMadeOncePerWorkerAndFirstAtOnce) {
  std::atomic<int> made{0};
  const size_t workers = worker_count(3, 100);
  PerWorker<std::vector<size_t>> state(workers, [&] {
    ++made;
    return std::make_unique<std::vector<size_t>>();
  });
  state.first();
  EXPECT_EQ(made.load(), 1) << "first() makes worker 0's now";
  parallel_for(100, [&](size_t i, size_t worker) { state[worker].push_back(i); }, with_threads(3));
  EXPECT_LE(made.load(), 3);
  std::vector<size_t> all;
  for (size_t w = 0; w < workers; ++w) {
    const std::vector<size_t>& items = state[w];
    EXPECT_TRUE(std::is_sorted(items.begin(), items.end())) << "a worker takes items in increasing order";
    all.insert(all.end(), items.begin(), items.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 100u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i);
}

TEST(AtomicFile, WritesAndReplacesAFileLeavingNoTemporary) {
  test::TempDir dir;
  const std::string file = dir.file("out.csv");
  write_file_atomically(file, "first\n");
  EXPECT_EQ(test::read_file(file), "first\n");
  write_file_atomically(file, std::string("second\0line\n", 12));
  EXPECT_EQ(test::read_file(file), std::string("second\0line\n", 12));
  write_atomically(file, [&](const std::string& tmp) {
    EXPECT_EQ(fs::path(tmp).parent_path(), dir.path) << "the temporary file is in the target's folder";
    EXPECT_FALSE(fs::exists(tmp));
    std::ofstream(tmp) << "third";
  });
  EXPECT_EQ(test::read_file(file), "third");
  EXPECT_EQ(folder_listing(dir.path), std::vector<std::string>{"out.csv"});
}

TEST(AtomicFile, AWriterThatThrowsLeavesTheOldFileAndNoPartialOne) {
  test::TempDir dir;
  const std::string file = dir.file("model.pt");
  write_file_atomically(file, "old contents");
  std::string tmp_seen;
  const std::string msg = test::error_message<IoError>([&] {
    write_atomically(file, [&](const std::string& tmp) {
      tmp_seen = tmp;
      std::ofstream(tmp) << "half of the new";
      throw std::runtime_error("No space left on device");
    });
  });
  EXPECT_EQ(msg, file + ": cannot write: No space left on device");
  EXPECT_EQ(fs::path(tmp_seen).parent_path(), dir.path) << "the temporary file is in the target's folder";
  EXPECT_EQ(test::read_file(file), "old contents");
  EXPECT_EQ(folder_listing(dir.path), std::vector<std::string>{"model.pt"}) << "the partial file is removed";

  // No old file: none appears.
  const std::string fresh = dir.file("fresh.json");
  EXPECT_THROW(write_atomically(fresh, [](const std::string& tmp) {
                 std::ofstream(tmp) << "{";
                 throw IoError(tmp, "disk full");
               }),
               IoError);
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_EQ(folder_listing(dir.path), std::vector<std::string>{"model.pt"});
}

TEST(AtomicFile, AMissingFolderOrAWriterThatWritesNothingIsAnIoErrorNamingTheFile) {
  test::TempDir dir;
  const std::string nowhere = dir.file("no/such/folder/f.txt");
  const std::string msg = test::error_message<IoError>([&] { write_file_atomically(nowhere, "x"); });
  EXPECT_NE(msg.find(nowhere), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  const std::string file = dir.file("f.txt");
  EXPECT_NE(test::error_message<IoError>([&] { write_atomically(file, [](const std::string&) {}); }).find(file),
            std::string::npos);
  EXPECT_FALSE(fs::exists(file));
}

TEST(AtomicFile, StaleTemporariesAreRemovedAndNothingElse) {
  test::TempDir dir;
  for (const char* name : {"a.png.tmp.123", "manifest.csv.tmp.9", "keep.tmp", "keep.tmp.x1", ".tmp.5", "keep.png"}) {
    std::ofstream(dir.file(name)) << "12345";
  }
  fs::create_directories(dir.path / "sub.tmp.77");  // a folder: left alone
  const std::vector<RemovedTemporary> removed = remove_stale_temporaries(dir.path.string());
  std::set<std::string> names;
  for (const RemovedTemporary& t : removed) {
    names.insert(fs::path(t.path).filename().string());
    EXPECT_EQ(t.bytes, 5u);
    EXPECT_EQ(fs::path(t.path).parent_path(), dir.path);
  }
  EXPECT_EQ(names, (std::set<std::string>{"a.png.tmp.123", "manifest.csv.tmp.9"}));
  EXPECT_EQ(folder_listing(dir.path), (std::vector<std::string>{".tmp.5", "keep.png", "keep.tmp", "keep.tmp.x1",
                                                                "sub.tmp.77"}));
  EXPECT_TRUE(remove_stale_temporaries(dir.file("absent")).empty());
}

}  // namespace
}  // namespace sola
