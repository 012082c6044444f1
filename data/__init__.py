"""Built-in LightningDataModules, by registry name.

Values are import paths, so nothing heavy is imported until a class is resolved.
Anywhere a name is accepted, a dotted path to your own class works too.
"""

DATA = {
    "digits": "tuning.data.digits:DigitsDataModule",
    "tabular": "tuning.data.tabular:TabularDataModule",
    "text_classification": "tuning.data.text_classification:TextClassificationDataModule",
}
