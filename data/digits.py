"""scikit-learn's bundled 8x8 digits (1797 images, 64 features, 10 classes): no download."""

import torch

from .arrays import ArrayDataModule


class DigitsDataModule(ArrayDataModule):
    """Digits as flat 64-feature vectors, split train/val/test with a fixed seed."""

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.1,
        split_seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()

    def load_arrays(self):
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
