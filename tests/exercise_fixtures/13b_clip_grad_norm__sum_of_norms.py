# expect: 2/8
# message: you added the tensors' norms
def clip_grad_norm(grads, max_norm):
    total_norm = sum(g.norm() for g in grads)
    factor = min(1.0, max_norm / (total_norm.item() + 1e-6))
    return [g * factor for g in grads], total_norm
