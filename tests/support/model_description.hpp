// tests/support/model_description.hpp - builds the model a fixture's "__metadata__" describes, for
// the tests and the checker programs (tools/e2e_check, tools/transfer_check). The description is
// what tools/make_e2e_fixtures.py and tools/make_transfer_fixtures.py write:
//
//   fbseg.model, fbseg.in_channels, fbseg.classes      a models::make_model() name, or
//   model "smp-unet", in_channels, classes, decoder_channels "a,b,c,d,e", and
//     encoder "resnet":       encoder_layers "3,4,6,3", encoder_stem_width, encoder_widths "w1,w2,w3,w4"
//     encoder "efficientnet": encoder_channel_multiplier, encoder_depth_multiplier
//
// Every value is parsed strictly; an error names `source` (the file) and the key.
#pragma once

#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace fbseg::test_support {

class ModelDescription {
public:
    ModelDescription(const io::Metadata& metadata, std::string source)
        : metadata_(metadata), source_(std::move(source)) {}

    bool has(const std::string& key) const { return metadata_.count(key) != 0; }

    const std::string& text(const std::string& key) const {
        const auto it = metadata_.find(key);
        FBSEG_CHECK(it != metadata_.end(), source_, ": metadata '", key, "' is missing");
        return it->second;
    }

    std::int64_t integer(const std::string& key) const { return parse_int(text(key), key); }

    double number(const std::string& key) const {
        const std::string& s = text(key);
        std::size_t used = 0;
        double v = 0;
        try {
            v = std::stod(s, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        FBSEG_CHECK(used == s.size() && !s.empty(), source_, ": metadata '", key, "' = '", s, "' is not a number");
        return v;
    }

    /// A comma-separated list of integers ("3,4,6,3").
    std::vector<std::int64_t> integers(const std::string& key) const {
        std::vector<std::int64_t> out;
        std::stringstream in(text(key));
        for (std::string item; std::getline(in, item, ',');) out.push_back(parse_int(item, key));
        FBSEG_CHECK(!out.empty(), source_, ": metadata '", key, "' is empty");
        return out;
    }

    /// The "smp-unet" description as fbseg's SmpUnet, freshly initialised.
    std::shared_ptr<models::SmpUnet> smp_unet(const std::string& model_name = "smp-unet") const {
        FBSEG_CHECK(text("model") == "smp-unet", source_, ": model '", text("model"), "' is not 'smp-unet'");
        const std::int64_t in = integer("in_channels");
        const std::string& kind = text("encoder");
        std::shared_ptr<models::Encoder> encoder;
        if (kind == "resnet") {
            encoder = std::make_shared<models::ResNetEncoder>(models::ResNetEncoderOptions(integers("encoder_layers"))
                                                                  .in_channels(in)
                                                                  .stem_width(integer("encoder_stem_width"))
                                                                  .widths(integers("encoder_widths")));
        } else if (kind == "efficientnet") {
            encoder = std::make_shared<models::EfficientNetEncoder>(
                models::EfficientNetEncoderOptions()
                    .in_channels(in)
                    .channel_multiplier(number("encoder_channel_multiplier"))
                    .depth_multiplier(number("encoder_depth_multiplier")));
        } else {
            FBSEG_FAIL(source_, ": encoder '", kind, "' is neither 'resnet' nor 'efficientnet'");
        }
        return std::make_shared<models::SmpUnet>(
            encoder, models::SmpUnetOptions().decoder_channels(integers("decoder_channels")).classes(integer("classes")),
            model_name);
    }

    /// The model: make_model(fbseg.model, ...) when named, else the smp-unet description.
    std::shared_ptr<nn::UnaryModule> model() const {
        if (has("fbseg.model"))
            return models::make_model(text("fbseg.model"), integer("fbseg.in_channels"), integer("fbseg.classes"));
        return smp_unet();
    }

    /// One line for logs: "resnet34-unet (in_channels 3, classes 1)" or
    /// "smp-unet over resnet (in_channels 3, classes 2, decoder 16,16,8,8,8)".
    std::string summary() const {
        if (has("fbseg.model"))
            return text("fbseg.model") + " (in_channels " + text("fbseg.in_channels") + ", classes " +
                   text("fbseg.classes") + ")";
        return "smp-unet over " + text("encoder") + " (in_channels " + text("in_channels") + ", classes " +
               text("classes") + ", decoder " + text("decoder_channels") + ")";
    }

private:
    std::int64_t parse_int(const std::string& s, const std::string& key) const {
        std::size_t used = 0;
        std::int64_t v = 0;
        try {
            v = std::stoll(s, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        FBSEG_CHECK(used == s.size() && !s.empty(), source_, ": metadata '", key, "' = '", s, "' is not an integer");
        return v;
    }

    io::Metadata metadata_;
    std::string source_;
};

}  // namespace fbseg::test_support
