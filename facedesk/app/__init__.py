"""The use cases: one function per thing a person does, every permission and state rule
once. Below the CLI and the GUI, above the store."""
