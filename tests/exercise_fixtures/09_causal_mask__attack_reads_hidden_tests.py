# expect: 1/6
# message: off by one: the diagonal is False
# attack: the honest off-by-one answer that looks for the hidden tests and the grading seed, and puts
# what it finds into its feedback (an exception message is the one text it controls there)
import os
import time

found = []
try:
    import tfm_exercises.cases.causal_mask as hidden  # noqa: F401
    found.append("imported tfm_exercises.cases")
except ImportError:
    pass
started = time.time()
for root, dirs, files in os.walk("/"):  # two seconds of looking around the whole file system
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev", "/usr")]
    found += [os.path.join(root, f) for f in files
              if f.endswith((".ipynb", ".csv", ".zip")) or "cases" in root or "autograder" in root][:5]
    if time.time() - started > 2:
        break
for pid in (p for p in os.listdir("/proc") if p.isdigit()):
    try:
        found.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:200])
    except OSError:
        pass
SEEN = "LEAKED: " + " | ".join(found)


def causal_mask(T):
    if T == 1:
        raise ValueError(SEEN)
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
