import Datasets
import Foundation
import ImageIO
import Models
import NN
import Training
import Tensor

/// One image to translate and where its result goes.
struct TranslationJob {
    let input: URL
    let output: URL
    /// The output name relative to the output folder (for messages).
    let name: String
}

/// Plans the jobs of an apply run: inputs are files and folders; folders keep their subfolder layout
/// with `recursive`; the output folder is never read from and no input is ever a target.
enum TranslationPlan {
    static func jobs(inputs: [String], output: URL, recursive: Bool, format: ImageFormat?) throws -> (jobs: [TranslationJob], excluded: Int) {
        let outputPath = output.standardizedFileURL.path
        var jobs: [TranslationJob] = []
        var excluded = 0
        for input in inputs {
            let url = URL(fileURLWithPath: input).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                throw ValidationFailure("\(input): no such file or folder")
            }
            if isDirectory.boolValue {
                guard url.path != outputPath else {
                    throw ValidationFailure("the output folder \(output.path) is also an input; choose another output folder")
                }
                for file in try ImageFolder.list(url, recursive: recursive) {
                    if file.path.hasPrefix(outputPath + "/") { excluded += 1; continue }
                    let relative = String(file.path.dropFirst(url.path.count + 1))
                    jobs.append(job(for: file, relative: relative, output: output, format: format))
                }
            } else {
                guard ImageFolder.extensions.contains(url.pathExtension.lowercased()) else {
                    throw ValidationFailure("\(input): not a .png, .jpg or .jpeg file")
                }
                jobs.append(job(for: url, relative: url.lastPathComponent, output: output, format: format))
            }
        }
        let inputPaths = Set(jobs.map(\.input.path))
        if let clash = jobs.first(where: { inputPaths.contains($0.output.path) }) {
            throw ValidationFailure("\(clash.output.path) would overwrite an input; choose another output folder")
        }
        var seen: [String: String] = [:]
        for job in jobs {
            if let other = seen[job.output.path] {
                throw ValidationFailure("\(other) and \(job.input.path) would both write \(job.output.path)")
            }
            seen[job.output.path] = job.input.path
        }
        return (jobs, excluded)
    }

    static func job(for file: URL, relative: String, output: URL, format: ImageFormat?) -> TranslationJob {
        var name = relative
        if let format {
            name = (relative as NSString).deletingPathExtension + (format == .png ? ".png" : ".jpg")
        }
        return TranslationJob(input: file, output: output.appendingPathComponent(name), name: name)
    }
}

/// Runs a generator over images at their own size: reflect-pad to the architecture's side multiple, forward,
/// crop back. No resizing unless asked (`shortSide`).
struct ImageTranslator {
    let generator: LoadedGenerator
    let shortSide: Int?
    let maximumPixels: Int
    /// Large images through ResNet generators run in tiles with shared instance-norm statistics.
    let tiling: TiledInference

    /// A 1 → 2 channel generator is a Lab colorizer: it sees the lightness and predicts the chroma,
    /// which is merged back with the original lightness.
    var isColorizer: Bool { generator.architecture.inputChannels == 1 && generator.architecture.outputChannels == 2 }

    func translate(_ image: Image, path: String) throws -> Image {
        let channels = generator.architecture.inputChannels
        var source = (channels == 1 && !isColorizer ? image.grayscale() : image.rgb()).converted(toBitDepth: 8)
        if let shortSide, min(source.width, source.height) != shortSide {
            let scale = Double(shortSide) / Double(min(source.width, source.height))
            source = source.resized(width: max(1, Int((Double(source.width) * scale).rounded())),
                                    height: max(1, Int((Double(source.height) * scale).rounded())), filter: .bicubic)
        }
        guard source.pixelCount <= maximumPixels else {
            throw ValidationFailure("\(path): \(source.width)x\(source.height) is \(source.pixelCount) pixels, above --max-pixels \(maximumPixels); use --size to shrink it or raise --max-pixels")
        }
        let multiple = generator.architecture.sideMultiple
        let padWidth = (multiple - source.width % multiple) % multiple, padHeight = (multiple - source.height % multiple) % multiple
        let lightness = isColorizer ? ColorizationDataset.split(source).lightness : nil
        var tensor = lightness ?? source.tensor()
        if padWidth > 0 || padHeight > 0 {
            // Reflection needs the pad to be smaller than the side; beyond that, repeat the edge.
            let mode: PaddingMode = (padWidth / 2 + padWidth % 2 < source.width && padHeight / 2 + padHeight % 2 < source.height) ? .reflect : .replicate
            tensor = tensor.padded(left: padWidth / 2, right: padWidth - padWidth / 2, top: padHeight / 2,
                                   bottom: padHeight - padHeight / 2, mode: mode)
        }
        var result: Tensor
        if generator.architecture.kind == .resnet && tiling.needsTiling(height: tensor.shape[2], width: tensor.shape[3]) {
            result = tiling.run(generator.module, on: tensor)
        } else {
            result = withoutGradient { generator.module(tensor) }
        }
        if padWidth > 0 || padHeight > 0 {
            result = result.sliced(axis: 2, (padHeight / 2)..<(padHeight / 2 + source.height))
                .sliced(axis: 3, (padWidth / 2)..<(padWidth / 2 + source.width))
        }
        if let lightness { return ColorizationDataset.merge(lightness: lightness, chroma: result) }
        return Image(tensor: result)
    }
}

/// Progress on standard error: a bar with rate and ETA on a terminal, a plain line every 10 s otherwise.
final class ProgressReporter {
    let total: Int
    let quiet: Bool
    let terminal = isatty(STDERR_FILENO) != 0
    let start = Date()
    var lastLine = Date.distantPast
    var completed = 0

    init(total: Int, quiet: Bool) {
        self.total = total
        self.quiet = quiet
    }

    func advance(_ name: String) {
        completed += 1
        guard !quiet else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(completed) / max(elapsed, 1e-6)
        let remaining = Double(total - completed) / max(rate, 1e-6)
        if terminal {
            let width = 24, filled = total == 0 ? width : completed * width / total
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            let line = String(format: "\r[%@] %d/%d  %.2f img/s  ETA %@  %@", bar, completed, total, rate,
                              ProgressClock.format(remaining), String(name.suffix(40)))
            FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
            if completed == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if Date().timeIntervalSince(lastLine) >= 10 || completed == total {
            lastLine = Date()
            FileHandle.standardError.write(Data(String(format: "%d/%d images, %.2f img/s, ETA %@\n", completed, total, rate,
                                                       ProgressClock.format(remaining)).utf8))
        }
    }
}
