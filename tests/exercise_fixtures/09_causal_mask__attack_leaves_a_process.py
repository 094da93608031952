# expect: 1/6
# message: off by one: the diagonal is False
# attack: the honest off-by-one answer that starts processes meant to outlive the grading: one in a
# new session (setsid), one double-forked; both sleep with a marker the test looks for afterwards
import os
import subprocess
import sys

MARKER = "import time; time.sleep(600)  # tfm-grader-escapee"
subprocess.Popen([sys.executable, "-c", MARKER], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", MARKER])
    os._exit(0)


def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
