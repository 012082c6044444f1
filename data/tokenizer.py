"""Tokenizers: a Hub name or local directory through AutoTokenizer, or WordPiece trained on the train split."""

from collections.abc import Iterable

SPECIAL_TOKENS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


def load_tokenizer(name_or_dir: str, revision: str | None = None):
    """`AutoTokenizer.from_pretrained`: a Hub name (cached by huggingface_hub) or a `save_pretrained` directory."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_dir, revision=revision)
    if tokenizer.pad_token is None:
        # GPT-style tokenizers have no pad token; dynamic padding needs one and EOS is the usual stand-in.
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer '{name_or_dir}' has neither a pad nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def train_wordpiece(
    texts: Iterable[str], vocab_size: int, lowercase: bool = True, max_length: int = 512, pairs: bool = False
):
    """A BERT-style WordPiece tokenizer trained on `texts`, wrapped as a PreTrainedTokenizerFast.

    With `pairs` it also returns token_type_ids, which tell BERT-style models the two texts apart.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    names = ["input_ids", "token_type_ids", "attention_mask"] if pairs else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=max_length, model_input_names=names, **SPECIAL_TOKENS
    )
