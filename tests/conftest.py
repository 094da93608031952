import pytest
import torch


@pytest.fixture(autouse=True)
def seed_and_one_thread():
    """Every test starts from seed 0 on one thread: the tensors in tests are tiny, and extra
    threads only add overhead (and noise) on the 2-core CI machine."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Where the device tests run: the CPU always, and CUDA where there is a GPU. On a GPU machine
# ``pytest -k cuda`` runs just those (benchmarks/gpu_check.py runs the files that use them).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)
