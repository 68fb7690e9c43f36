// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "stylize",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "stylize", targets: ["stylize"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "ImageIO", targets: ["ImageIO"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "ModelHub", targets: ["ModelHub"]),
        .library(name: "Pipelines", targets: ["Pipelines"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - System libraries
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),

        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        /// The libpng/libjpeg calls; their longjmp error handling stays in C.
        .target(name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"]),

        // MARK: - Files
        /// Atomic writes, plain-words file errors, resolved paths and file identity.
        .target(name: "SafeFiles"),
        /// Terminal status lines fitted to the terminal's width, progress bars and clocks.
        .target(name: "Console"),

        // MARK: - Engine
        /// Processes of one MPI job (Open MPI loaded at run time only under mpirun) and deterministic shards.
        .target(name: "Distributed"),
        .target(name: "Tensor", dependencies: ["COpenBLAS"]),
        .target(name: "NN", dependencies: ["Tensor", "SafeFiles"]),

        // MARK: - Images and data
        .target(name: "ImageIO", dependencies: ["CImageCodecs", "Tensor", "SafeFiles"]),
        .target(name: "Datasets", dependencies: ["ImageIO", "Tensor"]),

        // MARK: - Models
        .target(name: "Models", dependencies: ["Tensor", "NN", "ImageIO"]),

        // MARK: - Model hub
        /// The registry, downloads, checksums and where bundled models are found.
        .target(name: "ModelHub", dependencies: ["Models", "NN", "SafeFiles", "Console"]),

        // MARK: - Pipelines
        /// Inference from image to image: pad/crop, tiling, colour spaces, sampling loops.
        .target(name: "Pipelines", dependencies: ["Models", "NN", "ImageIO", "Tensor"]),

        // MARK: - Training
        .target(
            name: "Training",
            dependencies: ["Tensor", "NN", "Models", "Pipelines", "ImageIO", "Datasets", "SafeFiles", "Console", "Distributed",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: - Command line
        .target(
            name: "StylizeCLI",
            dependencies: [
                "Tensor", "NN", "Models", "ModelHub", "Pipelines", "ImageIO", "Datasets", "Training", "SafeFiles", "Console", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "stylize", dependencies: ["StylizeCLI"]),

        // MARK: - Tests
        .target(name: "_TestSupport", dependencies: ["Tensor", "NN", "Models", "ImageIO"], path: "Tests/_TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "_TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["Tensor", "NN", "_TestSupport"]),
        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO", "Tensor", "_TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "ImageIO", "Tensor", "_TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Pipelines", "Datasets", "ImageIO", "NN", "Tensor", "_TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Tensor", "NN", "Models", "_TestSupport"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines", "Models", "NN", "ImageIO", "Tensor", "_TestSupport"]),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub", "Models", "NN", "Tensor", "_TestSupport"]),
        .testTarget(name: "SafeFilesTests", dependencies: ["SafeFiles", "_TestSupport"]),
        .testTarget(name: "ConsoleTests", dependencies: ["Console"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "StylizeCLITests", dependencies: ["StylizeCLI", "_TestSupport", "NN", "Tensor", "ImageIO", "Console"]),
    ],
    swiftLanguageModes: [.v6]
)
