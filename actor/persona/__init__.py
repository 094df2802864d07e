"""The customer the actor plays: scenarios (data) and the persona's state machine (pure).

The actor's turn generation (prompting, role guard) builds on these.
"""
