"""Built-in LightningDataModules, by registry name.

Values are import paths, so nothing heavy is imported until a class is resolved.
Anywhere a name is accepted, a dotted path to your own class works too.
"""

DATA = {
    "digits": "data.digits:DigitsDataModule",
    "tabular": "data.tabular:TabularDataModule",
    "text_classification": "data.text_classification:TextClassificationDataModule",
}
