import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import Pipelines
import SafeFiles
import Tensor

/// `stylize eval REFERENCE_DIR OUTPUT_DIR`: PSNR and SSIM of outputs against references with the same names.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Compare images with references of the same name: PSNR and SSIM per image and on average.",
        discussion: """
        Images are matched by relative path without extension (photo.png ↔ photo.jpg). Both are compared as \
        8-bit RGB at the reference's size (an output of another size is an error for that image). SSIM uses an \
        11×11 Gaussian window (σ 1.5) on each channel, averaged. Also printed, and as ratios output/reference (mean \
        of the per-image ratios): colourfulness (Hasler & Süsstrunk, σ_rgyb + 0.3·μ_rgyb; 0 for gray) and sharpness \
        (mean |∂x| + |∂y| of the mean-of-RGB image, 0–255). With --low-resolution DIR (the inputs of an upscaler), \
        each output is downscaled to its input's size with PIL's bicubic filter and compared with it: the consistency \
        PSNR. With --periodic, each output's and reference's grid-locked periodic peak (the checkerboard of \
        transposed convolutions): the strongest line with a 2–16 px period in the spectra of the column and row means, \
        as a ratio to its spectral neighbourhood, with its period, and the ratio at a 4-px period (photos: a few \
        units; a visible checkerboard: tens or more). --json prints one JSON object.
        """
    )

    @Argument(help: "Folder of reference images (ground truth).") var reference: String
    @Argument(help: "Folder of images to score.") var output: String
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "The low-resolution inputs of a super-resolution run, for the consistency PSNR.") var lowResolution: String?
    @Flag(help: "Also measure grid-locked periodic artifacts (a checkerboard's spectral peak; see below).") var periodic = false
    @Option(help: "An autoencoder (latest_net_VAE.safetensors): first write its reconstructions of the references into OUTPUT_DIR, then score them.") var autoencoder: String?

    /// Writes the autoencoder's reconstruction (posterior mean, padded to its factor and cropped back) of every reference.
    func reconstruct(with file: String) throws {
        let (model, _) = try AutoencoderKL.load(contentsOf: URL(fileURLWithPath: file))
        model.eval()
        let folder = URL(fileURLWithPath: output)
        try Folder.create(folder)
        for (name, url) in try ImageFolder.keyedByName(URL(fileURLWithPath: reference)) {
            let image = try Image.read(contentsOf: url).rgb().converted(toBitDepth: 8)
            let padded = PaddedToMultiple(image.tensor(), multiple: model.configuration.downsamplingFactor)
            let reconstruction = withoutGradient { padded.cropped(model(padded.tensor)).clamped(min: -1, max: 1) }
            let target = folder.appendingPathComponent(name + ".png")
            try Folder.create(target.deletingLastPathComponent())
            try Image(tensor: reconstruction).write(to: target)
        }
    }

    func run() throws {
        if let autoencoder { try reconstruct(with: autoencoder) }
        let references: [String: URL], outputs: [String: URL], lowResolutionInputs: [String: URL]?
        do {
            references = try ImageFolder.keyedByName(URL(fileURLWithPath: reference))
            outputs = try ImageFolder.keyedByName(URL(fileURLWithPath: output))
            lowResolutionInputs = try lowResolution.map { try ImageFolder.keyedByName(URL(fileURLWithPath: $0)) }
        } catch { throw ValidationError("\(error)") }
        var rows: [[String: Any]] = []
        var failures: [String] = []
        for name in outputs.keys.sorted() {
            guard let referenceURL = references[name] else { failures.append("\(name): no reference image"); continue }
            do {
                let truth = try Image.read(contentsOf: referenceURL).rgb().converted(toBitDepth: 8)
                let result = try Image.read(contentsOf: outputs[name]!).rgb().converted(toBitDepth: 8)
                guard truth.width == result.width, truth.height == result.height else {
                    failures.append("\(name): size \(result.width)x\(result.height), reference \(truth.width)x\(truth.height)")
                    continue
                }
                let (colorfulness, referenceColorfulness) = (ImageMetrics.colorfulness(result), ImageMetrics.colorfulness(truth))
                let (sharpness, referenceSharpness) = (ImageMetrics.sharpness(result), ImageMetrics.sharpness(truth))
                var row: [String: Any] = ["name": name, "psnr": ImageMetrics.psnr(truth, result), "ssim": ImageMetrics.ssim(truth, result),
                                          "colorfulness": colorfulness, "reference_colorfulness": referenceColorfulness,
                                          "sharpness": sharpness, "reference_sharpness": referenceSharpness,
                                          "sharpness_ratio": referenceSharpness > 0 ? sharpness / referenceSharpness : Double.nan,
                                          "colorfulness_ratio": referenceColorfulness > 0 ? colorfulness / referenceColorfulness : Double.nan]
                if periodic {
                    let (own, reference) = (ImageMetrics.periodicPeak(result), ImageMetrics.periodicPeak(truth))
                    row["periodic_peak"] = own.peak
                    row["periodic_period"] = own.period
                    row["periodic_at_4px"] = own.atFourPixels
                    row["reference_periodic_peak"] = reference.peak
                    row["reference_periodic_at_4px"] = reference.atFourPixels
                }
                if let lowResolutionInputs {
                    guard let url = lowResolutionInputs[name] else { failures.append("\(name): no low-resolution input"); continue }
                    let input = try Image.read(contentsOf: url).rgb().converted(toBitDepth: 8)
                    guard result.width % input.width == 0, result.height % input.height == 0, result.width / input.width == result.height / input.height else {
                        failures.append("\(name): output \(result.width)x\(result.height) is not a whole multiple of input \(input.width)x\(input.height)")
                        continue
                    }
                    let downscaled = result.resized(width: input.width, height: input.height, filter: .bicubic)
                    row["consistency_psnr"] = ImageMetrics.psnr(input, downscaled)
                }
                rows.append(row)
            } catch {
                failures.append("\(error)")
            }
        }
        // Identical images have an infinite PSNR: reported as such (null in JSON) and left out of the mean.
        let finite = rows.map { $0["psnr"] as! Double }.filter(\.isFinite)
        let meanPSNR = finite.reduce(0, +) / Double(max(finite.count, 1))
        let meanSSIM = rows.map { $0["ssim"] as! Double }.reduce(0, +) / Double(max(rows.count, 1))
        // Means over finite values: an output that downscales exactly to its input has an infinite consistency PSNR.
        func mean(_ key: String) -> Double? {
            let values = rows.compactMap { $0[key] as? Double }.filter(\.isFinite)
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
        let exactlyConsistent = rows.filter { ($0["consistency_psnr"] as? Double)?.isInfinite == true }.count
        let extras = ["colorfulness", "reference_colorfulness", "sharpness", "reference_sharpness", "consistency_psnr",
                      "sharpness_ratio", "colorfulness_ratio", "periodic_peak", "periodic_at_4px", "reference_periodic_peak",
                      "reference_periodic_at_4px"]
        if json {
            let encoded = rows.map { row -> [String: Any] in
                var copy = row
                for key in ["psnr", "consistency_psnr", "sharpness_ratio", "colorfulness_ratio"] where (row[key] as? Double)?.isFinite == false {
                    copy[key] = NSNull()
                }
                return copy
            }
            var object: [String: Any] = ["images": encoded, "mean_psnr": meanPSNR, "mean_ssim": meanSSIM,
                                         "identical": rows.count - finite.count, "exactly_consistent": exactlyConsistent, "failed": failures]
            for key in extras { if let value = mean(key) { object["mean_" + key] = value } }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            for row in rows {
                let psnr = row["psnr"] as! Double
                let value = psnr.isFinite ? String(format: "%8.2f dB", psnr) : "identical"
                var line = String(format: "%@  SSIM %.4f  colourfulness %.1f (reference %.1f)  sharpness %.2f (reference %.2f)", value,
                                  row["ssim"] as! Double, row["colorfulness"] as! Double, row["reference_colorfulness"] as! Double,
                                  row["sharpness"] as! Double, row["reference_sharpness"] as! Double)
                if let consistency = row["consistency_psnr"] as? Double {
                    line += consistency.isFinite ? String(format: "  consistency %.2f dB", consistency) : "  consistency exact"
                }
                if let peak = row["periodic_peak"] as? Double {
                    line += String(format: "  periodic peak %.1f at %.2f px, at 4 px %.1f (reference %.1f, %.1f)", peak,
                                   row["periodic_period"] as! Double, row["periodic_at_4px"] as! Double,
                                   row["reference_periodic_peak"] as! Double, row["reference_periodic_at_4px"] as! Double)
                }
                print(line + "  " + (row["name"] as! String))
            }
            let note = finite.count < rows.count ? " (PSNR over the \(finite.count) non-identical)" : ""
            var summary = String(format: "mean over %d images: PSNR %.2f dB, SSIM %.4f%@", rows.count, meanPSNR, meanSSIM, note)
            if let colorfulness = mean("colorfulness"), let reference = mean("reference_colorfulness"),
               let sharpness = mean("sharpness"), let referenceSharpness = mean("reference_sharpness") {
                summary += String(format: ", colourfulness %.1f (reference %.1f), sharpness %.2f (reference %.2f)", colorfulness, reference,
                                  sharpness, referenceSharpness)
                if let sharpnessRatio = mean("sharpness_ratio") { summary += String(format: ", sharpness ratio %.3f", sharpnessRatio) }
                if let colorfulnessRatio = mean("colorfulness_ratio") { summary += String(format: ", colourfulness ratio %.3f", colorfulnessRatio) }
            }
            if let consistency = mean("consistency_psnr") { summary += String(format: ", consistency PSNR %.2f dB", consistency) }
            if let peak = mean("periodic_peak"), let atFour = mean("periodic_at_4px"), let reference = mean("reference_periodic_peak"),
               let referenceAtFour = mean("reference_periodic_at_4px") {
                summary += String(format: ", periodic peak %.1f, at 4 px %.1f (reference %.1f, %.1f)", peak, atFour, reference, referenceAtFour)
            }
            if exactlyConsistent > 0 {
                summary += mean("consistency_psnr") == nil ? ", consistency exact for all" : " (over the \(rows.count - exactlyConsistent) not exactly consistent; \(exactlyConsistent) exact)"
            }
            print(summary)
            for failure in failures { FileHandle.standardError.write(Data("failed: \(failure)\n".utf8)) }
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}
