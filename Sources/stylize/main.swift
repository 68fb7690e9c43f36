import StylizeCLI

ProcessSetup.tuneOpenBLAS()
Stylize.main()
