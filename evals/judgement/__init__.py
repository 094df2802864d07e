"""Evaluation of the judgement module (``python -m evals.judgement``) and of the bank's labelling
agreement (``python -m evals.judgement.agreement``)."""
