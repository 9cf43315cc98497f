"""One module per ingress controller; each exports CONTROLLER. The registry lists them."""
