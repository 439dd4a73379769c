#!/usr/bin/env python3
"""tools/walkthrough_reference.py - PyTorch's numbers for docs/walkthrough.md.

The same 6x6 ellipse, weights and layers as examples/walkthrough/walkthrough.hpp, written
independently in PyTorch (float64). tests/test_docs.cpp holds the values this prints; rerun it
(python3 tools/walkthrough_reference.py, needs torch) after changing the walkthrough.
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
i, j = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
x = (((j - 2.5) / 2.6) ** 2 + ((i - 2.5) / 1.9) ** 2 <= 1).double().reshape(1, 1, 6, 6)
target = x.clone()
w = torch.tensor([0.1, 0.2, 0.1, 0.2, 0.4, 0.2, 0.1, 0.2, 0.1,
                  0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0]).reshape(2, 1, 3, 3).requires_grad_()
wh = torch.tensor([1.0, -0.5]).reshape(1, 2, 1, 1)
bh = torch.tensor([0.1])
running_mean, running_var = torch.zeros(2), torch.ones(2)

y = F.conv2d(x, w, padding=1)
y.retain_grad()
b = F.batch_norm(y, running_mean, running_var, training=True, momentum=0.1, eps=1e-5)
b.retain_grad()
logits = F.conv2d(F.relu(b), wh, bh)
loss = F.binary_cross_entropy_with_logits(logits, target)
loss.backward()

fmt = lambda t: ", ".join(f"{v:.10g}" for v in t.detach().flatten().tolist())
print("loss", f"{loss.item():.12g}")
print("mean", fmt(y.mean(dim=(0, 2, 3))))
print("var_biased", fmt(y.var(dim=(0, 2, 3), unbiased=False)))
print("running_mean", fmt(running_mean))
print("running_var", fmt(running_var))
print("logits_row2", fmt(logits[0, 0, 2]))
print("dW", fmt(w.grad))
print("dY_channel0_row1", fmt(y.grad[0, 0, 1]))
print("dY_channel1_row1", fmt(y.grad[0, 1, 1]))
print("dB_channel0_row1", fmt(b.grad[0, 0, 1]))
