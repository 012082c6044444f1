"""Classes for the conformance suite (tests/tuning/sweep/test_build.py): what a Lightning project passes to
LightningCLI or Hydra, in the shapes Lightning's documentation and the popular templates teach.

`nets` holds plain `torch.nn` networks (nested arguments of the modules), `lit` modules and data
modules of `lightning.pytorch` (`import lightning as L`), `pl` the same of `pytorch_lightning`, and
`hydra_models` modules written the way a Hydra project writes them (partial optimizers, a network
node it instantiates itself).
"""
