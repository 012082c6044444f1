"""A user's LightningCLI entry point, as Lightning's docs write it: `python tests/lightningcli_main.py fit ...`."""

from lightning.pytorch.cli import LightningCLI

if __name__ == "__main__":
    LightningCLI()
