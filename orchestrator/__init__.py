"""The control plane: sign-in, tenants, runtimes, proxy, signing broker and the operator CLI."""
