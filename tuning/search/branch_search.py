"""The searcher of a conditional space under searcher random or grid: Tune's variant generator has no conditional
domains. Tune pickles it with the sweep (tuning.stored), so it is a class of this module, not one built in a function.
"""

import pickle
import random

from ray.tune.search import Searcher

from tuning.search.conditional import fill, grid_points


class BranchSearch(Searcher):
    """`points_to_evaluate` first (each one trial, the rest of it drawn), then `total` trials over the grid points
    in turn (one point without grid entries), the rest drawn."""

    def __init__(self, space: dict, as_grid: bool, total: int, seed: int, points_to_evaluate=()):
        super().__init__()
        self.space, self.total = space, total
        self._state = {"rng": random.Random(seed), "points": list(points_to_evaluate), "made": 0, "grid": 0}
        self._grid = grid_points(space, as_grid)

    def suggest(self, trial_id):
        state = self._state
        if state["made"] >= self.total:
            return Searcher.FINISHED
        if state["points"]:
            given = state["points"].pop(0)
        else:
            given, state["grid"] = self._grid[state["grid"] % len(self._grid)], state["grid"] + 1
        state["made"] += 1
        return fill(self.space, given, state["rng"])

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass  # nothing to learn

    def save(self, checkpoint_path):
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self._state, f)

    def restore(self, checkpoint_path):
        with open(checkpoint_path, "rb") as f:
            self._state = pickle.load(f)
