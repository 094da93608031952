import os

import torch

# Small, deterministic CPU runs: two cores on CI, no GPU assumed.
torch.set_num_threads(min(2, os.cpu_count() or 1))
