"""The app's panels: each gets the controller in its constructor, tells it what the user wants,
and draws what it is given."""
