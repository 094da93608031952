# expect: 4/8
# message: you clipped each tensor by its own norm
def clip_grad_norm(grads, max_norm):
    total_norm = torch.stack([g.norm() for g in grads]).pow(2).sum().sqrt()
    clipped = []
    for g in grads:
        factor = min(1.0, max_norm / (g.norm().item() + 1e-6))
        clipped.append(g * factor)
    return clipped, total_norm
