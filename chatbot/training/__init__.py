"""One training loop for every torch plugin: device, precision, DDP, checkpoints, history."""
