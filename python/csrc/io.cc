// safetensors files (attn/io/safetensors.h), wrapped by python/attn/serialization.py into
// save_file / load_file with safetensors.torch's signatures.
#include "attn/io/safetensors.h"
#include "attn/io/state_dict.h"

#include "common.h"

namespace attn::python {

void bind_io(py::module_& m) {
  m.def("_load_safetensors", [](const std::string& path) {
    io::SafetensorsFile f;
    {
      py::gil_scoped_release nogil;
      f = io::load_safetensors(path);
    }
    return py::make_tuple(py::cast(f.tensors), py::cast(f.metadata));
  }, py::arg("path"));
  m.def("_save_safetensors", [](const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                                const std::map<std::string, std::string>& metadata) {
    py::gil_scoped_release nogil;
    io::save_safetensors(path, tensors, metadata);
  }, py::arg("path"), py::arg("tensors"), py::arg("metadata"));
  // Checkpoints: safetensors tagged with attn's format version (attn/io/state_dict.h).
  m.def("_save_state_dict", [](const std::string& path, const io::StateDict& state,
                               const std::map<std::string, std::string>& metadata) {
    py::gil_scoped_release nogil;
    io::save_state_dict(path, state, metadata);
  }, py::arg("path"), py::arg("state"), py::arg("metadata"));
  m.def("_load_state_dict", [](const std::string& path, bool check_finite) {
    std::map<std::string, std::string> metadata;
    io::StateDict sd;
    {
      py::gil_scoped_release nogil;
      sd = io::load_state_dict(path, check_finite, &metadata);
    }
    return py::make_tuple(py::cast(sd), py::cast(metadata));
  }, py::arg("path"), py::arg("check_finite"));
}

}  // namespace attn::python
