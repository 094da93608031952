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
