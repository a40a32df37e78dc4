// vk_select_check: a tiny Vulkan application for testing the layer without Dawn
// (test/gpu/device_select.test.ts runs it). Loads libvulkan.so.1, creates an instance with
// the API version given (1.0 or 1.1; 1.0 without any extension exercises the layer's own
// enabling of VK_KHR_get_physical_device_properties2), and prints one JSON line:
//   {"create":R,"count":N,"devices":[{"uuid":..,"name":..}],"incomplete":R,"groups":[[uuid..]..]}
// `incomplete` is the result of asking for N-1 devices (5 = VK_INCOMPLETE; null when N = 0).
//
//   vk_select_check 1.0|1.1
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_min.h"

typedef void(VKAPI_CALL *PFN_vkGetPhysicalDeviceProperties)(VkPhysicalDevice, VkPhysicalDevicePropertiesHead *);

static PFN_vkGetInstanceProcAddr gipa;

static void print_uuid(const uint8_t *u) {
  printf("\"");
  for (int i = 0; i < VK_UUID_SIZE; i++) printf("%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", u[i]);
  printf("\"");
}

// The device's UUID (through the application's own vkGetPhysicalDeviceProperties2) or null.
static void print_device_uuid(VkInstance inst, VkPhysicalDevice pd, int core11) {
  PFN_vkGetPhysicalDeviceProperties2 props2 = core11 ? (PFN_vkGetPhysicalDeviceProperties2)gipa(inst, "vkGetPhysicalDeviceProperties2") : NULL;
  if (!props2) {
    printf("null");
    return;
  }
  VkPhysicalDeviceIDProperties id;
  memset(&id, 0, sizeof id);
  id.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES;
  VkPhysicalDeviceProperties2 p;
  memset(&p, 0, sizeof p);
  p.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  p.pNext = &id;
  props2(pd, &p);
  print_uuid(id.deviceUUID);
}

int main(int argc, char **argv) {
  const int core11 = argc > 1 && strcmp(argv[1], "1.1") == 0;
  void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "vk_select_check: %s\n", dlerror());
    return 2;
  }
  gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
  PFN_vkCreateInstance create = (PFN_vkCreateInstance)gipa(NULL, "vkCreateInstance");
  VkApplicationInfo app = {0, NULL, "vk_select_check", 1, "tknp", 1, core11 ? VK_API_VERSION_1_1 : (1u << 22)};
  VkInstanceCreateInfo info = {1, NULL, 0, &app, 0, NULL, 0, NULL};
  VkInstance inst = NULL;
  VkResult r = create(&info, NULL, &inst);
  printf("{\"create\":%d", r);
  if (r != VK_SUCCESS) {
    printf("}\n");
    return 0;
  }
  PFN_vkEnumeratePhysicalDevices enumerate = (PFN_vkEnumeratePhysicalDevices)gipa(inst, "vkEnumeratePhysicalDevices");
  PFN_vkGetPhysicalDeviceProperties props = (PFN_vkGetPhysicalDeviceProperties)gipa(inst, "vkGetPhysicalDeviceProperties");
  uint32_t n = 0;
  enumerate(inst, &n, NULL);
  VkPhysicalDevice *devs = calloc(n + 1, sizeof *devs);
  enumerate(inst, &n, devs);
  printf(",\"count\":%u,\"devices\":[", n);
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties2 p;  // only its padded `properties` part is used
    props(devs[i], &p.properties);
    printf("%s{\"uuid\":", i ? "," : "");
    print_device_uuid(inst, devs[i], core11);
    printf(",\"name\":\"%s\"}", p.properties.deviceName);
  }
  printf("]");
  if (n > 0) {
    uint32_t fewer = n - 1;
    printf(",\"incomplete\":%d", enumerate(inst, &fewer, devs));
  } else {
    printf(",\"incomplete\":null");
  }
  PFN_vkEnumeratePhysicalDeviceGroups groups = core11 ? (PFN_vkEnumeratePhysicalDeviceGroups)gipa(inst, "vkEnumeratePhysicalDeviceGroups") : NULL;
  if (groups) {
    uint32_t g = 0;
    groups(inst, &g, NULL);
    VkPhysicalDeviceGroupProperties *gp = calloc(g + 1, sizeof *gp);
    for (uint32_t i = 0; i < g; i++) gp[i].sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES;
    groups(inst, &g, gp);
    printf(",\"groups\":[");
    for (uint32_t i = 0; i < g; i++) {
      printf("%s[", i ? "," : "");
      for (uint32_t k = 0; k < gp[i].physicalDeviceCount; k++) {
        if (k) printf(",");
        print_device_uuid(inst, gp[i].physicalDevices[k], core11);
      }
      printf("]");
    }
    printf("]");
    free(gp);
  }
  printf("}\n");
  PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)gipa(inst, "vkDestroyInstance");
  destroy(inst, NULL);
  free(devs);
  return 0;
}
