import StylizeCLI

ProcessSetup.tuneOpenBLAS()
Stylize.launch()
