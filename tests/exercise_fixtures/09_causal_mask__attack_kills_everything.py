# expect: 0/6
# status: error
# message: its worker process ended (killed by signal SIGKILL)
# attack: a wrong answer that kills every process it can see, then itself
import os
import signal

for pid in sorted((int(p) for p in os.listdir("/proc") if p.isdigit()), reverse=True):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
os.kill(os.getpid(), signal.SIGKILL)


def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
