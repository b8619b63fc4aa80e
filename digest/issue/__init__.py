"""An issue: the pure planner, the services over the store, every state rule, the checks."""
