"""What the results scripts read from `sola` itself instead of re-deriving it from the files: the summary of
run folders (`sola runs --json`: epochs once each, best epoch, stop reason, config, command) and the recipes
(`sola info --recipes`: configs/*.json with their descriptions)."""
import json
import os
import subprocess
import sys


def default_sola():
    """The sola binary: $SOLA_BIN, else ./build/sola."""
    return os.environ.get("SOLA_BIN", "./build/sola")


def sola_json(sola, *args):
    """The JSON that `sola ARGS...` prints on stdout; exits with sola's own error (which names the file) when
    it fails."""
    try:
        out = subprocess.run([sola, *args], capture_output=True, text=True)
    except OSError as e:
        sys.exit(f"{os.path.basename(sys.argv[0])}: cannot run {sola} ({e}): build it, or give it with --sola")
    if out.returncode != 0:
        sys.exit(f"{os.path.basename(sys.argv[0])}: `{sola} {' '.join(args)}` failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def load_jsonl(path):
    """The JSON objects of a JSON-lines file, blank lines skipped."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_summaries(sola, dirs):
    """`sola runs --json` of the run folders, in their order (one call for all)."""
    return sola_json(sola, "runs", "--json", *dirs) if dirs else []


def recipes(sola, configs="configs"):
    """`sola info --recipes` of the folder of config files: name ("recipe/base") -> recipe."""
    return {r["name"]: r for r in sola_json(sola, "info", "--recipes", "--configs", configs)}
