"""Built-in LightningModules, by registry name.

Values are import paths, so nothing heavy is imported until a class is resolved.
Anywhere a name is accepted, a dotted path to your own class works too.
"""

MODELS = {
    "mlp": "tuning.models.mlp:MLPClassifier",
    "text_classifier": "tuning.models.text_classifier:TextClassifier",
}
