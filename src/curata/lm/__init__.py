"""Language-model backends behind one interface (log-likelihoods, generation, chat), used by LM scorers."""
