// The device a command runs on: a --device flag or run.device setting, checked against this
// machine.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace dsla::model {

/// The device `spec` names (cpu, cuda, cuda:N). Throws dsla::Error naming `where` (the flag or
/// setting) when the name is malformed, when CUDA is asked for and this machine has no usable CUDA
/// device, or when the index is past the devices it has.
c10::Device resolve_device(const std::string& spec, const std::string& where);

}  // namespace dsla::model
