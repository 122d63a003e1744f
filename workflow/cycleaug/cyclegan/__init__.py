"""CycleGAN (Zhu et al. 2017) as in the reference implementation, trained data-parallel with
torch.distributed or horovod (paper Sec. 3.1-3.2): networks, data, image pool, launcher detection,
training loop, checkpoints and generation."""
