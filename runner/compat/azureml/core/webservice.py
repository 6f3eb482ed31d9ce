"""azureml.core.webservice: Webservice and AciWebservice, as runner defines them."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"Webservice": ("runner:Webservice",),
                                "AciWebservice": ("runner:AciWebservice",)})
