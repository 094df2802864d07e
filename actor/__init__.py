"""The training actor: rehearse a difficult conversation with an aggressive customer.

Folders by concern: :mod:`actor.llm` (the model seam), :mod:`actor.embeddings`,
:mod:`actor.knowledge` (course material and retrieval),
:mod:`actor.config` (settings), :mod:`actor.cli` (the ``actor`` command).
"""

__version__ = "0.1.0"
