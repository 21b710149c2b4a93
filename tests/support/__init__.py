"""What the tests share and the program does not: real-server harnesses, tool lookup, component builds."""
