// src/nn/key_functions.cpp - the destructors that FBSEG_KEY_FUNCTION declares out of line
// (include/fbseg/core/key_function.hpp). Defining them here makes this file the home of the
// modules' and optimizers' vtables: their forward() and step(), and every op and kernel those
// reach, are compiled once, here, instead of in every program that builds a model.
#include "fbseg/models.hpp"
#include "fbseg/nn.hpp"

// layers and losses (include/fbseg/nn/)
fbseg::nn::Sequential::~Sequential() = default;
fbseg::nn::ModuleList::~ModuleList() = default;
fbseg::nn::Dropout::~Dropout() = default;
fbseg::nn::Dropout2d::~Dropout2d() = default;
fbseg::nn::MaxPool2d::~MaxPool2d() = default;
fbseg::nn::AdaptiveAvgPool2d::~AdaptiveAvgPool2d() = default;
fbseg::nn::Identity::~Identity() = default;
fbseg::nn::ReLU::~ReLU() = default;
fbseg::nn::LeakyReLU::~LeakyReLU() = default;
fbseg::nn::SiLU::~SiLU() = default;
fbseg::nn::Sigmoid::~Sigmoid() = default;
fbseg::nn::Conv2d::~Conv2d() = default;
fbseg::nn::ConvTranspose2d::~ConvTranspose2d() = default;
fbseg::nn::Upsample::~Upsample() = default;
fbseg::nn::BatchNorm2d::~BatchNorm2d() = default;
fbseg::nn::CrossEntropyLoss::~CrossEntropyLoss() = default;
fbseg::nn::CeDiceLoss::~CeDiceLoss() = default;
fbseg::nn::MSELoss::~MSELoss() = default;
fbseg::nn::L1Loss::~L1Loss() = default;

// models (include/fbseg/models/)
fbseg::models::UNetUpBlock::~UNetUpBlock() = default;
fbseg::models::UNet::~UNet() = default;
fbseg::models::BasicBlock::~BasicBlock() = default;
fbseg::models::ResNetEncoder::~ResNetEncoder() = default;
fbseg::models::BatchNormAct2d::~BatchNormAct2d() = default;
fbseg::models::SqueezeExcite::~SqueezeExcite() = default;
fbseg::models::DepthwiseSeparableConv::~DepthwiseSeparableConv() = default;
fbseg::models::InvertedResidual::~InvertedResidual() = default;
fbseg::models::EfficientNetEncoder::~EfficientNetEncoder() = default;
fbseg::models::UnetDecoderBlock::~UnetDecoderBlock() = default;
fbseg::models::UnetDecoder::~UnetDecoder() = default;
fbseg::models::SmpUnet::~SmpUnet() = default;

// optimizers (include/fbseg/optim/)
fbseg::optim::Adam::~Adam() = default;
fbseg::optim::AdamW::~AdamW() = default;
fbseg::optim::SGD::~SGD() = default;
