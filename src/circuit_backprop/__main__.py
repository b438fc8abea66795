from circuit_backprop.cli import main

main()
