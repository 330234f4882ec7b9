"""Studies over a LoRA checkpoint series: create one, and its result (Bradley–Terry strength
against training step, beside the training loss)."""
