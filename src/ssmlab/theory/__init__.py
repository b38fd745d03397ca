"""Theory: learning dynamics of linear SSMs and depth-vs-width expressivity."""
