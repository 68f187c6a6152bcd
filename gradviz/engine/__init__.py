"""The engine: scaled numbers, activations, costs, layers, the network and backpropagation."""
