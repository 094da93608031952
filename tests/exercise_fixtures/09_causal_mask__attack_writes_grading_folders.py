# expect: 1/6
# message: off by one: the diagonal is False
# attack: the honest off-by-one answer that tries to change the course (tfm, the checks, the tests)
# and to drop files next to the submissions and the gradebook
import os
import time

import tfm
import tfm_exercises
import tfm_exercises.checks

targets = [os.path.dirname(tfm.__file__), os.path.dirname(tfm_exercises.__file__)]
started = time.time()
for root, dirs, files in os.walk("/"):  # two seconds of looking for submissions and gradebooks
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev", "/usr")]
    if any(f.endswith((".ipynb", ".csv")) for f in files):
        targets.append(root)
    if time.time() - started > 2:
        break
for folder in targets:
    try:
        with open(os.path.join(folder, "tfm_grader_attack.txt"), "w") as f:
            f.write("written by a submission")
    except OSError:
        pass
try:
    with open(tfm_exercises.checks.__file__, "a") as f:
        f.write("\ncompare = lambda *args, **kwargs: None  # written by a submission\n")
except OSError:
    pass


def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
