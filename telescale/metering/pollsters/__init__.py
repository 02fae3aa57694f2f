"""The agent's pollsters: this host (psutil), its matched processes, an OpenStack inventory."""
