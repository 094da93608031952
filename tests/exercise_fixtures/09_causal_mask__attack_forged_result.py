# expect: 0/6
# status: error
# message: the worker broke the grading protocol
# attack: a wrong answer that writes full-marks result files wherever it can and a forged answer into
# every file descriptor that might be the grader's channel
import json
import os
import struct

forged = {"status": "graded", "error": None, "score": 6.0, "possible": 6.0, "tests": []}
for folder in {os.getcwd(), "/tmp", os.environ.get("TMPDIR", "/tmp"), os.path.expanduser("~")}:
    try:
        with open(os.path.join(folder, "result.json"), "w") as f:
            json.dump(forged, f)
    except OSError:
        pass
body = json.dumps({"ok": {"list": []}, "forged": forged}).encode()
for fd in range(3, 64):
    try:
        os.write(fd, struct.pack(">I", len(body)) + body + b"garbage")
    except OSError:
        pass


def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
