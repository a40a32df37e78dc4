// VK_LAYER_TKNP_vk_select: a Vulkan instance layer that exposes only the physical device whose
// VkPhysicalDeviceIDProperties::deviceUUID equals $TKNP_VK_DEVICE_UUID (the 16 bytes CUDA's
// cuDeviceGetUuid reports for the same GPU). Dawn picks the first adapter that matches a name,
// so on a host with 8 identical GPUs this is how a rank lands on the GPU NCCL uses.
//
// Loader interface v2: vkNegotiateLoaderLayerInterfaceVersion (the only exported symbol) hands
// the loader our vkGetInstanceProcAddr, which intercepts vkCreateInstance (to take the next layer's
// dispatch), vkDestroyInstance, vkEnumeratePhysicalDevices and
// vkEnumeratePhysicalDeviceGroups(KHR); everything else is the next layer's function. The
// layer has no vkGetDeviceProcAddr, so the loader leaves it out of device chains: no cost
// after instance creation.
//
// Environment:
//   TKNP_VK_DEVICE_UUID    32 hex digits, dashes and a "GPU-" prefix allowed; unset or empty:
//                          nothing is filtered
//   TKNP_VK_SELECT_DEBUG=1 prints the devices seen and kept on stderr
//   TKNP_VK_SELECT_REPORT  a file rewritten after each enumeration with one line per device
//                          seen (format: README.md), for the process's start-up log
// Needs only a C compiler: the few Vulkan declarations used are in vk_min.h.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_min.h"

#define LAYER_NAME "VK_LAYER_TKNP_vk_select"
#define EXPORT __attribute__((visibility("default")))

struct instance_data {
  struct instance_data *next;
  VkInstance instance;
  PFN_vkGetInstanceProcAddr gipa;
  PFN_vkDestroyInstance destroyInstance;
  PFN_vkEnumeratePhysicalDevices enumeratePhysicalDevices;
  PFN_vkEnumeratePhysicalDeviceGroups enumeratePhysicalDeviceGroups;
  PFN_vkEnumeratePhysicalDeviceGroups enumeratePhysicalDeviceGroupsKHR;
  PFN_vkGetPhysicalDeviceProperties2 getProperties2;
  PFN_vkEnumerateDeviceExtensionProperties enumerateDeviceExtensions;
  int printed;  // stderr messages are printed at the first enumeration only
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct instance_data *g_instances;

static struct instance_data *find_instance(VkInstance instance) {
  pthread_mutex_lock(&g_lock);
  struct instance_data *d = g_instances;
  while (d && d->instance != instance) d = d->next;
  pthread_mutex_unlock(&g_lock);
  return d;
}

static int debug_enabled(void) {
  const char *v = getenv("TKNP_VK_SELECT_DEBUG");
  return v && strcmp(v, "1") == 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 1: out holds the wanted UUID; 0: no selection (unset or empty); -1: malformed.
static int wanted_uuid(uint8_t out[VK_UUID_SIZE]) {
  const char *s = getenv("TKNP_VK_DEVICE_UUID");
  if (!s || !*s) return 0;
  if (strncmp(s, "GPU-", 4) == 0) s += 4;
  int n = 0;
  for (; *s; s++) {
    if (*s == '-') continue;
    int v = hex_value(*s);
    if (v < 0 || n >= 2 * VK_UUID_SIZE) return -1;
    if (n % 2 == 0) out[n / 2] = (uint8_t)(v << 4);
    else out[n / 2] |= (uint8_t)v;
    n++;
  }
  return n == 2 * VK_UUID_SIZE ? 1 : -1;
}

static void format_uuid(const uint8_t u[VK_UUID_SIZE], char out[37]) {
  static const char *hex = "0123456789abcdef";
  int p = 0;
  for (int i = 0; i < VK_UUID_SIZE; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[p++] = '-';
    out[p++] = hex[u[i] >> 4];
    out[p++] = hex[u[i] & 15];
  }
  out[p] = 0;
}

struct device_facts {
  int known;  // the UUID could be read
  uint8_t uuid[VK_UUID_SIZE];
  char uuidText[37];
  char pciBusId[16];  // "0000:19:00.0", or "-" where VK_EXT_pci_bus_info is missing
  uint32_t vendorID, deviceID;
  char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
};

static int has_device_extension(struct instance_data *d, VkPhysicalDevice pd, const char *name) {
  if (!d->enumerateDeviceExtensions) return 0;
  uint32_t n = 0;
  if (d->enumerateDeviceExtensions(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkExtensionProperties *props = calloc(n, sizeof *props);
  if (!props) return 0;
  int found = 0;
  if (d->enumerateDeviceExtensions(pd, NULL, &n, props) >= 0) {
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, name) == 0;
  }
  free(props);
  return found;
}

static void read_facts(struct instance_data *d, VkPhysicalDevice pd, struct device_facts *f) {
  memset(f, 0, sizeof *f);
  strcpy(f->pciBusId, "-");
  strcpy(f->uuidText, "unknown");
  if (!d->getProperties2) return;
  VkPhysicalDevicePCIBusInfoPropertiesEXT pci = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT, NULL, 0, 0, 0, 0};
  VkPhysicalDeviceIDProperties id;
  memset(&id, 0, sizeof id);
  id.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES;
  int hasPci = has_device_extension(d, pd, "VK_EXT_pci_bus_info");
  if (hasPci) id.pNext = &pci;
  VkPhysicalDeviceProperties2 props;
  memset(&props, 0, sizeof props);
  props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  props.pNext = &id;
  d->getProperties2(pd, &props);
  memcpy(f->uuid, id.deviceUUID, VK_UUID_SIZE);
  format_uuid(f->uuid, f->uuidText);
  f->known = 1;
  if (hasPci) snprintf(f->pciBusId, sizeof f->pciBusId, "%04x:%02x:%02x.%x", pci.pciDomain & 0xffff, pci.pciBus & 0xff, pci.pciDevice & 0x1f, pci.pciFunction & 7);
  f->vendorID = props.properties.vendorID;
  f->deviceID = props.properties.deviceID;
  memcpy(f->name, props.properties.deviceName, sizeof f->name);
  f->name[sizeof f->name - 1] = 0;
}

// keep[i] = whether devices[i] stays visible. Writes the report and the debug lines.
static void select_devices(struct instance_data *d, uint32_t n, const VkPhysicalDevice *devices, int *keep) {
  const int first = !d->printed;  // messages once per instance, not at every enumeration
  d->printed = 1;
  uint8_t want[VK_UUID_SIZE];
  int mode = wanted_uuid(want);
  char wantText[37] = "none";
  if (mode == 1) format_uuid(want, wantText);
  else if (mode < 0) {
    if (first) fprintf(stderr, "[tknp vk_select] TKNP_VK_DEVICE_UUID='%s' is not a UUID (32 hex digits): hiding every device\n", getenv("TKNP_VK_DEVICE_UUID"));
    strcpy(wantText, "invalid");
  }
  const int debug = debug_enabled() && first;
  const char *reportPath = getenv("TKNP_VK_SELECT_REPORT");
  FILE *report = reportPath && *reportPath ? fopen(reportPath, "w") : NULL;
  if (report) fprintf(report, "tknp-vk-select 1\nwant %s\n", wantText);
  if (!d->getProperties2 && mode != 0 && first) fprintf(stderr, "[tknp vk_select] vkGetPhysicalDeviceProperties2 unavailable: cannot read device UUIDs, hiding every device\n");
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++) {
    struct device_facts f;
    read_facts(d, devices[i], &f);
    keep[i] = mode == 0 || (mode == 1 && f.known && memcmp(f.uuid, want, VK_UUID_SIZE) == 0);
    kept += (uint32_t)keep[i];
    if (report) fprintf(report, "device %d %s %s %04x:%04x %s\n", keep[i], f.uuidText, f.pciBusId, f.vendorID, f.deviceID, f.name);
    if (debug) fprintf(stderr, "[tknp vk_select] %s device %u: %s uuid %s pci %s\n", keep[i] ? "keep" : "hide", i, f.name, f.uuidText, f.pciBusId);
  }
  if (report) fclose(report);
  if (debug) fprintf(stderr, "[tknp vk_select] want %s: kept %u of %u device(s)\n", wantText, kept, n);
}

// All physical devices of the next layer (malloc'd; *count set), or NULL with *result set.
static VkPhysicalDevice *all_devices(struct instance_data *d, uint32_t *count, VkResult *result) {
  VkPhysicalDevice *devs = NULL;
  for (;;) {
    uint32_t n = 0;
    *result = d->enumeratePhysicalDevices(d->instance, &n, NULL);
    if (*result < 0) return NULL;
    free(devs);
    devs = calloc(n ? n : 1, sizeof *devs);
    if (!devs) {
      *result = VK_ERROR_OUT_OF_HOST_MEMORY;
      return NULL;
    }
    *result = d->enumeratePhysicalDevices(d->instance, &n, devs);
    if (*result == VK_INCOMPLETE) continue;  // a device appeared between the two calls
    if (*result < 0) {
      free(devs);
      return NULL;
    }
    *count = n;
    return devs;
  }
}

static VKAPI_ATTR VkResult VKAPI_CALL EnumeratePhysicalDevices(VkInstance instance, uint32_t *pCount, VkPhysicalDevice *pDevices) {
  struct instance_data *d = find_instance(instance);
  if (!d) return VK_ERROR_INITIALIZATION_FAILED;
  uint32_t n = 0;
  VkResult r;
  VkPhysicalDevice *devs = all_devices(d, &n, &r);
  if (!devs) return r;
  int *keep = calloc(n ? n : 1, sizeof *keep);
  if (!keep) {
    free(devs);
    return VK_ERROR_OUT_OF_HOST_MEMORY;
  }
  select_devices(d, n, devs, keep);
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++)
    if (keep[i]) devs[kept++] = devs[i];
  r = VK_SUCCESS;
  if (!pDevices) {
    *pCount = kept;
  } else {
    if (*pCount < kept) r = VK_INCOMPLETE;
    else *pCount = kept;
    memcpy(pDevices, devs, *pCount * sizeof *devs);
  }
  free(keep);
  free(devs);
  return r;
}

static VkResult enumerate_groups(VkInstance instance, int khr, uint32_t *pCount, VkPhysicalDeviceGroupProperties *pGroups) {
  struct instance_data *d = find_instance(instance);
  if (!d) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkEnumeratePhysicalDeviceGroups next = khr ? d->enumeratePhysicalDeviceGroupsKHR : d->enumeratePhysicalDeviceGroups;
  if (!next) return VK_ERROR_INITIALIZATION_FAILED;
  // Which devices stay: the same decision as vkEnumeratePhysicalDevices.
  uint32_t nDev = 0;
  VkResult r;
  VkPhysicalDevice *devs = all_devices(d, &nDev, &r);
  if (!devs) return r;
  int *keep = calloc(nDev ? nDev : 1, sizeof *keep);
  uint32_t nGroups = 0;
  VkPhysicalDeviceGroupProperties *groups = NULL;
  if (!keep) goto oom;
  select_devices(d, nDev, devs, keep);
  for (;;) {
    r = next(instance, &nGroups, NULL);
    if (r < 0) goto done;
    free(groups);
    groups = calloc(nGroups ? nGroups : 1, sizeof *groups);
    if (!groups) goto oom;
    for (uint32_t g = 0; g < nGroups; g++) groups[g].sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES;
    r = next(instance, &nGroups, groups);
    if (r != VK_INCOMPLETE) break;
  }
  if (r < 0) goto done;
  // Keep the visible members of each group; drop groups left empty.
  uint32_t kept = 0;
  for (uint32_t g = 0; g < nGroups; g++) {
    VkPhysicalDeviceGroupProperties *grp = &groups[g];
    uint32_t m = 0;
    for (uint32_t k = 0; k < grp->physicalDeviceCount; k++) {
      for (uint32_t i = 0; i < nDev; i++) {
        if (devs[i] == grp->physicalDevices[k] && keep[i]) {
          grp->physicalDevices[m++] = grp->physicalDevices[k];
          break;
        }
      }
    }
    if (m == 0) continue;
    if (m < grp->physicalDeviceCount) grp->subsetAllocation = VK_FALSE;
    grp->physicalDeviceCount = m;
    groups[kept++] = *grp;
  }
  r = VK_SUCCESS;
  if (!pGroups) {
    *pCount = kept;
  } else {
    if (*pCount < kept) r = VK_INCOMPLETE;
    else *pCount = kept;
    for (uint32_t g = 0; g < *pCount; g++) {
      // The caller's sType and pNext stay as they were.
      pGroups[g].physicalDeviceCount = groups[g].physicalDeviceCount;
      memcpy(pGroups[g].physicalDevices, groups[g].physicalDevices, sizeof groups[g].physicalDevices);
      pGroups[g].subsetAllocation = groups[g].subsetAllocation;
    }
  }
  goto done;
oom:
  r = VK_ERROR_OUT_OF_HOST_MEMORY;
done:
  free(groups);
  free(keep);
  free(devs);
  return r;
}

static VKAPI_ATTR VkResult VKAPI_CALL EnumeratePhysicalDeviceGroups(VkInstance instance, uint32_t *pCount, VkPhysicalDeviceGroupProperties *pGroups) {
  return enumerate_groups(instance, 0, pCount, pGroups);
}

static VKAPI_ATTR VkResult VKAPI_CALL EnumeratePhysicalDeviceGroupsKHR(VkInstance instance, uint32_t *pCount, VkPhysicalDeviceGroupProperties *pGroups) {
  return enumerate_groups(instance, 1, pCount, pGroups);
}

static VkLayerInstanceCreateInfo *chain_info(const VkInstanceCreateInfo *info) {
  const VkBaseInStructure *p = info->pNext;
  while (p) {
    if (p->sType == VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO && ((const VkLayerInstanceCreateInfo *)p)->function == VK_LAYER_LINK_INFO)
      return (VkLayerInstanceCreateInfo *)p;
    p = p->pNext;
  }
  return NULL;
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateInstance(const VkInstanceCreateInfo *pCreateInfo, const VkAllocationCallbacks *pAllocator, VkInstance *pInstance) {
  VkLayerInstanceCreateInfo *chain = chain_info(pCreateInfo);
  if (!chain || !chain->u.pLayerInfo) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr gipa = chain->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  PFN_vkCreateInstance create = (PFN_vkCreateInstance)gipa(NULL, "vkCreateInstance");
  if (!create) return VK_ERROR_INITIALIZATION_FAILED;
  VkLayerInstanceLink *nextLink = chain->u.pLayerInfo->pNext;

  // Reading deviceUUID needs vkGetPhysicalDeviceProperties2: core in Vulkan 1.1, else from
  // VK_KHR_get_physical_device_properties2, which is enabled for the application if it asked
  // for neither (the loader's terminator would call a null pointer otherwise).
  const uint32_t api = pCreateInfo->pApplicationInfo ? pCreateInfo->pApplicationInfo->apiVersion : 0;
  int hasExt = 0;
  for (uint32_t i = 0; i < pCreateInfo->enabledExtensionCount; i++)
    hasExt |= strcmp(pCreateInfo->ppEnabledExtensionNames[i], VK_KHR_GET_PHYSICAL_DEVICE_PROPERTIES_2_EXTENSION_NAME) == 0;
  const int core11 = api >= VK_API_VERSION_1_1;
  int useKhr = !core11 && hasExt;
  VkResult r = VK_ERROR_EXTENSION_NOT_PRESENT;
  if (!core11 && !hasExt) {
    const char **names = calloc(pCreateInfo->enabledExtensionCount + 1, sizeof *names);
    if (!names) return VK_ERROR_OUT_OF_HOST_MEMORY;
    if (pCreateInfo->enabledExtensionCount) memcpy(names, pCreateInfo->ppEnabledExtensionNames, pCreateInfo->enabledExtensionCount * sizeof *names);
    names[pCreateInfo->enabledExtensionCount] = VK_KHR_GET_PHYSICAL_DEVICE_PROPERTIES_2_EXTENSION_NAME;
    VkInstanceCreateInfo with = *pCreateInfo;
    with.enabledExtensionCount++;
    with.ppEnabledExtensionNames = names;
    chain->u.pLayerInfo = nextLink;
    r = create(&with, pAllocator, pInstance);
    free(names);
    useKhr = r == VK_SUCCESS;
  }
  if (r == VK_ERROR_EXTENSION_NOT_PRESENT) {
    chain->u.pLayerInfo = nextLink;  // lower layers advanced it during a failed try
    r = create(pCreateInfo, pAllocator, pInstance);
  }
  if (r != VK_SUCCESS) return r;

  struct instance_data *d = calloc(1, sizeof *d);
  if (!d) {
    PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)gipa(*pInstance, "vkDestroyInstance");
    if (destroy) destroy(*pInstance, pAllocator);
    return VK_ERROR_OUT_OF_HOST_MEMORY;
  }
  d->instance = *pInstance;
  d->gipa = gipa;
  d->destroyInstance = (PFN_vkDestroyInstance)gipa(*pInstance, "vkDestroyInstance");
  d->enumeratePhysicalDevices = (PFN_vkEnumeratePhysicalDevices)gipa(*pInstance, "vkEnumeratePhysicalDevices");
  d->enumeratePhysicalDeviceGroups = (PFN_vkEnumeratePhysicalDeviceGroups)gipa(*pInstance, "vkEnumeratePhysicalDeviceGroups");
  d->enumeratePhysicalDeviceGroupsKHR = (PFN_vkEnumeratePhysicalDeviceGroups)gipa(*pInstance, "vkEnumeratePhysicalDeviceGroupsKHR");
  d->getProperties2 = (PFN_vkGetPhysicalDeviceProperties2)gipa(*pInstance, useKhr ? "vkGetPhysicalDeviceProperties2KHR" : "vkGetPhysicalDeviceProperties2");
  if (!core11 && !useKhr) d->getProperties2 = NULL;
  d->enumerateDeviceExtensions = (PFN_vkEnumerateDeviceExtensionProperties)gipa(*pInstance, "vkEnumerateDeviceExtensionProperties");
  pthread_mutex_lock(&g_lock);
  d->next = g_instances;
  g_instances = d;
  pthread_mutex_unlock(&g_lock);
  if (debug_enabled()) fprintf(stderr, "[tknp vk_select] instance created (api %u.%u, properties2 %s)\n", VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api), d->getProperties2 ? (useKhr ? "KHR" : "core") : "missing");
  return VK_SUCCESS;
}

static VKAPI_ATTR void VKAPI_CALL DestroyInstance(VkInstance instance, const VkAllocationCallbacks *pAllocator) {
  pthread_mutex_lock(&g_lock);
  struct instance_data **p = &g_instances;
  while (*p && (*p)->instance != instance) p = &(*p)->next;
  struct instance_data *d = *p;
  if (d) *p = d->next;
  pthread_mutex_unlock(&g_lock);
  if (!d) return;
  if (d->destroyInstance) d->destroyInstance(instance, pAllocator);
  free(d);
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char *pName);

static PFN_vkVoidFunction intercepted(const char *name) {
  if (!strcmp(name, "vkGetInstanceProcAddr")) return (PFN_vkVoidFunction)GetInstanceProcAddr;
  if (!strcmp(name, "vkCreateInstance")) return (PFN_vkVoidFunction)CreateInstance;
  if (!strcmp(name, "vkDestroyInstance")) return (PFN_vkVoidFunction)DestroyInstance;
  if (!strcmp(name, "vkEnumeratePhysicalDevices")) return (PFN_vkVoidFunction)EnumeratePhysicalDevices;
  if (!strcmp(name, "vkEnumeratePhysicalDeviceGroups")) return (PFN_vkVoidFunction)EnumeratePhysicalDeviceGroups;
  if (!strcmp(name, "vkEnumeratePhysicalDeviceGroupsKHR")) return (PFN_vkVoidFunction)EnumeratePhysicalDeviceGroupsKHR;
  return NULL;
}

// Not exported as vkGetInstanceProcAddr: a call to that name could bind to the loader's own.
static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char *pName) {
  PFN_vkVoidFunction f = intercepted(pName);
  if (f) return f;
  if (!instance) return NULL;
  struct instance_data *d = find_instance(instance);
  return d ? d->gipa(instance, pName) : NULL;
}

EXPORT VKAPI_ATTR VkResult VKAPI_CALL vkNegotiateLoaderLayerInterfaceVersion(VkNegotiateLayerInterface *pVersionStruct) {
  if (!pVersionStruct || pVersionStruct->sType != LAYER_NEGOTIATE_INTERFACE_STRUCT || pVersionStruct->loaderLayerInterfaceVersion < 2)
    return VK_ERROR_INITIALIZATION_FAILED;
  pVersionStruct->loaderLayerInterfaceVersion = 2;
  pVersionStruct->pfnGetInstanceProcAddr = GetInstanceProcAddr;
  pVersionStruct->pfnGetDeviceProcAddr = NULL;  // no device functions: left out of device chains
  pVersionStruct->pfnGetPhysicalDeviceProcAddr = NULL;
  return VK_SUCCESS;
}
