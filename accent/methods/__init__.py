"""The transfer methods, one class per file, and the registry that maps a mode name to its class.

``pretrain`` runs load through the same table (they are not a transfer mode). The built-in methods
are imported here in the order every table shows them; a new method is one module with one class
decorated ``@register`` (docs/architecture.md, "How to add a method").
"""
from accent.methods.registry import find_method, get_method, method_names, mode_rank, read_own_model, register
from accent.methods import pretrained, baseline, scratch, extract, finetune, aligned, phonetic  # noqa: E402,F401  registers them

__all__ = ["find_method", "get_method", "method_names", "mode_rank", "read_own_model", "register"]
