import Foundation
import ImageIO
import SafeFiles

/// A static HTML page of image rows, like the reference implementation's `web/index.html`.
public enum HTMLGallery {
    /// One row: a heading and images (label, path relative to the page).
    public struct Row: Sendable {
        public var heading: String
        public var images: [(label: String, path: String)]

        public init(heading: String, images: [(label: String, path: String)]) {
            self.heading = heading
            self.images = images
        }
    }

    /// Writes the page atomically to `url`.
    ///
    /// - Parameters:
    ///   - notes: lines shown under the title (options, latest losses…).
    ///   - figure: an optional image shown above the rows (the loss curve).
    ///   - refreshSeconds: when set, the browser reloads the page this often (a page of a running job).
    public static func write(to url: URL, title: String, notes: [String] = [], figure: String? = nil, rows: [Row],
                             imageWidth: Int = 256, refreshSeconds: Int? = nil) throws {
        var html = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        if let refreshSeconds { html += "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">\n" }
        html += "<title>\(escaped(title))</title>\n"
        html += "<style>body{font-family:sans-serif;margin:1em} td{text-align:center;vertical-align:top;padding:4px} "
        html += "img{image-rendering:pixelated} p.note{margin:0.2em 0;font-family:monospace}</style>\n</head>\n<body>\n"
        html += "<h1>\(escaped(title))</h1>\n"
        for note in notes { html += "<p class=\"note\">\(escaped(note))</p>\n" }
        if let figure { html += "<p><img src=\"\(escaped(figure))\" alt=\"loss curves\"></p>\n" }
        for row in rows {
            html += "<h3>\(escaped(row.heading))</h3>\n<table><tr>\n"
            for image in row.images {
                let link = escaped(image.path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? image.path)
                html += "<td><a href=\"\(link)\"><img src=\"\(link)\" width=\"\(imageWidth)\"></a>"
                html += "<br>\(escaped(image.label))</td>\n"
            }
            html += "</tr></table>\n"
        }
        html += "</body>\n</html>\n"
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(Data(html.utf8), to: url)
    }

    /// `text` with the five HTML special characters escaped.
    public static func escaped(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// The page of a training run: `web/index.html` with the loss curve and, per epoch (newest first), the images of
/// the latest step (`web/images/epoch007_real_A.png` …). Rows are rebuilt from the files on disk, so a resumed run
/// keeps its history.
public struct RunPage {
    public let directory: URL
    public let title: String

    public init(directory: URL, title: String) {
        self.directory = directory
        self.title = title
    }

    public var pageURL: URL { directory.appendingPathComponent("index.html") }
    var imagesDirectory: URL { directory.appendingPathComponent("images") }

    /// Writes the images of one epoch (replacing earlier ones of that epoch).
    public func saveVisuals(epoch: Int, _ visuals: [(label: String, image: Image)]) throws {
        try FileManager.default.createDirectory(at: imagesDirectory, withIntermediateDirectories: true)
        for visual in visuals {
            try visual.image.write(to: imagesDirectory.appendingPathComponent(String(format: "epoch%03d_%@.png", epoch, visual.label)))
        }
    }

    /// Rewrites `index.html`: notes, the `figure` (a path relative to the page) if any, then every epoch's images in
    /// `labels` order.
    public func write(labels: [String], notes: [String], figure: String? = nil, refreshSeconds: Int? = nil) throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: imagesDirectory.path)) ?? []
        var epochs = Set<Int>()
        for file in files where file.hasPrefix("epoch") && file.hasSuffix(".png") {
            if let epoch = Int(file.dropFirst(5).prefix(while: \.isNumber)) { epochs.insert(epoch) }
        }
        let present = Set(files)
        let rows = epochs.sorted(by: >).map { epoch in
            HTMLGallery.Row(heading: "epoch \(epoch)", images: labels.compactMap { label in
                let name = String(format: "epoch%03d_%@.png", epoch, label)
                return present.contains(name) ? (label, "images/" + name) : nil
            })
        }
        try HTMLGallery.write(to: pageURL, title: title, notes: notes, figure: figure, rows: rows,
                              refreshSeconds: refreshSeconds)
    }
}
