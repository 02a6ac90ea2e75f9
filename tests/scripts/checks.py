"""What the script tests share: expectations that are collected, not raised, so that one run reports every
failure, and the exit status CTest reads."""


class Checks:
    def __init__(self, name):
        self.name = name
        self.failures = []

    def expect(self, cond, what):
        if not cond:
            self.failures.append(what)

    def report(self):
        """Prints the failures and a summary line; returns the exit status (1 on any failure)."""
        for f in self.failures:
            print("FAILED:", f)
        print(f"{self.name}:", "ok" if not self.failures else f"{len(self.failures)} failure(s)")
        return 1 if self.failures else 0
